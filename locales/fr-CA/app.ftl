# Accueil de l'application mobile (placement app.onboarding).

app-onboarding-title = Bienvenue dans l'appli Northwind
app-onboarding-body =
    { $device ->
        [tablet] Parcourez tout le catalogue sur grand écran et enregistrez vos favoris pour plus tard.
       *[other] Balayez les codes-barres en magasin, enregistrez vos favoris et payez en quelques secondes.
    }
app-onboarding-cta-label = Commencer

app-onboarding-returning-title = Content de vous revoir
app-onboarding-returning-body =
    { $order_count ->
        [one] Votre commande et son reçu sont maintenant réunis au même endroit, sous Compte.
       *[other] Vos { $order_count } commandes et leurs reçus sont maintenant réunis au même endroit, sous Compte.
    }
    .anonymous = Toutes vos commandes et leurs reçus sont maintenant réunis au même endroit, sous Compte.

app-onboarding-new-title = Bonjour { $first_name }, bienvenue!
    .anonymous = Bienvenue!
app-onboarding-new-body = Activez les notifications pour être parmi les premiers informés des retours en stock et des offres aux membres.
app-onboarding-new-cta-label = Activer les notifications
